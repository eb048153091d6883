"""Who is who on the bus: principals, their secrets, the local CA, and the ACLs config implies."""
