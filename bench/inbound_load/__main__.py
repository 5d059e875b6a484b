from bench.inbound_load.run import main

main()
