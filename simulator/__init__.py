"""Event simulator: members, wristbands and gyms writing to the source database and Kafka."""
