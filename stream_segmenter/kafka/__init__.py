"""Everything that talks to Kafka: client settings, offsets, dead letters, the consume loop."""
