from bench.lead_views.run import main

main()
