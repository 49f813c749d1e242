"""Resource managers: simulated S2 devices that connect to a CEM (``gridflex rm simulate``).

:mod:`~gridflex.s2.rm.simulators` runs them (battery and PV itself; the FRBC heat pump and EV in
:mod:`~gridflex.s2.rm.sim_frbc`; the PPBC washing machine, OMBC CHP and DDBC hybrid heat pump in
:mod:`~gridflex.s2.rm.sim_devices`).
"""
