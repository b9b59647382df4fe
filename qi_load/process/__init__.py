"""Child processes: started to die with their parent, stopped and reaped in one way."""
