"""One moto S3 endpoint for the scale-out tests (each test makes its own bucket)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .servers import S3, moto_s3


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3]:
    with moto_s3(tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint
