"""Every table, imported in one place so migrations and tests see the whole schema."""

from sharelinks.events.models import events
from sharelinks.persons.models import persons
from sharelinks.programs.models import program_domains, programs
from sharelinks.shareables.models import shareables
from sharelinks.tokens.models import tokens

__all__ = ["events", "persons", "program_domains", "programs", "shareables", "tokens"]
