# bbt/ build rules (included by the top-level Makefile).
