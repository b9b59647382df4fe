"""The reference agent service: the default system under test."""
