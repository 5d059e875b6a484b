from bench.dialer_sim.run import main

main()
