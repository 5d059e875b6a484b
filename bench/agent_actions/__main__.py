from bench.agent_actions.run import main

main()
