"""Population registry: verify NIK, name and date of birth against a registry (issue #3).

``base`` (the adapter interface), ``names`` (name matching rules), ``local`` (a table
imported from CSV), ``http`` (a Dukcapil-style web service client), ``services``
(the configured adapter, audited verification), ``cli`` (``idp registry``).
"""
