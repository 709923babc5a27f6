from hotseat.cli import main

main()
