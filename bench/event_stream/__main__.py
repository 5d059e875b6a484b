from bench.event_stream.run import main

main()
