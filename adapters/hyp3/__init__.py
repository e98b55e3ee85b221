"""ASF HyP3: the adapter (client, product names, translation into items) and its simulator."""
