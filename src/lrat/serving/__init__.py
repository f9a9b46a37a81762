"""Serving: the FAISS index of a registered model (`lrat index`), its BentoML model and bento (`lrat bento`), and
the HTTP retrieval service agents call (`lrat serve`)."""
