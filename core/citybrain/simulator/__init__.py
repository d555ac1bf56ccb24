"""A City Brain simulator: the contract of ``docs/citybrain.md`` with generated data and switchable faults.

``streetbrain citybrain-sim --port 9100 --seed 7`` serves it; tests and benchmarks start it on a free
port with :class:`core.citybrain.simulator.server.SimulatorServer`.
"""
