from bench.ami_ingest.run import main

main()
