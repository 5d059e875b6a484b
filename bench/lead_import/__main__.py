from bench.lead_import.run import main

main()
