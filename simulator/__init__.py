"""Event simulator: members, wristbands and gyms writing to the source database and Kafka.

    python -m simulator history --days 7 --members 500 --seed 42   # past data, as fast as possible
    python -m simulator live --members 500 --speed 60               # real time (x60) until SIGINT/SIGTERM
    python -m simulator status | stop                               # the live run's state file; stop it

`simulator.control` starts, queries and stops a background live run (for the dashboard).
"""
