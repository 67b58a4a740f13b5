// OpenSSL over memory BIOs lands here.
