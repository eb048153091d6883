"""One module per source system; each builds the APIRouter for its path prefix."""
