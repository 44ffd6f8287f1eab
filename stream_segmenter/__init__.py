"""stream-segmenter: a Kafka stream processor that splits documents into sentences."""

__version__ = "0.1.0"
