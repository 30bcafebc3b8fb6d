"""The ground floor: settings, connections, the Spark factory, background services and the data contract.

Every package may import it; it imports none of them."""
