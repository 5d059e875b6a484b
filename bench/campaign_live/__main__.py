from bench.campaign_live.run import main

main()
