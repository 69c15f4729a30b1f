"""The compiler's per-kind checks: each module checks and compiles one kind of metadata
and returns what it built with the list of problems it found (as Django's admin checks
return theirs); ``runtime.definition.compiler`` runs them in order."""
