"""Peer benchmark runners: see bench/peers/run.py."""
