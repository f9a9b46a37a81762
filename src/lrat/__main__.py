from lrat.cli import main

main()
