from sharelinks.cli import main

main()
