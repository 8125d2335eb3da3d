"""Converters and generators that write datasets in the input contract."""
