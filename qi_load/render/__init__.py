"""Rendering: figures and report documents from analysis results."""
