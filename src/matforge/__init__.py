"""matforge: inverse design of inorganic crystalline materials."""

from matforge.candidate import Candidate
from matforge.errors import MatforgeError

__all__ = ["Candidate", "MatforgeError", "__version__"]
__version__ = "0.1.0"
