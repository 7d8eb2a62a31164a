"""The directory's services: sign-up and accounts, tenant settings, users, numbers, menus and
prompts over ports (the ConfigDB repository, the clock, the queue bus, blob media), and pure
rules (business hours, IVR validation, access) that the SIP edge and the jobs use as well."""
