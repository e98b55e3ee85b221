"""NGU InSAR Norway: ground-motion point queries (adapter, client, CSV translation, simulator)."""
