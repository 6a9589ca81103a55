"""MPP counters: officers verify citizens in person, create or recover their accounts, and
hand over one-time activation codes (issue #3, "Counter enrolment")."""
