"""Account recovery ("Lupa kata sandi"): the verified contact, plus the second factor
when the account has one, then a new password; every session and token ends."""
