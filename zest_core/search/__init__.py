"""Encoding a corpus to shards, building indexes over them and searching them."""
