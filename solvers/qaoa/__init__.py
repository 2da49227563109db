"""``qaoa``: the QAOA formulation on a state-vector simulation (tiny problems, ≤ 20 qubits)."""
