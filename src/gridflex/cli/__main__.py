from gridflex.cli import main

main()
