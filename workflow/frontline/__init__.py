"""frontline: immune cells around the tumor invasive front in mIF images."""

__version__ = "0.1.0"
