"""Readers for training and evaluation data formats."""
