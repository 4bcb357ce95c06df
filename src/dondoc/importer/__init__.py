"""`dondoc import`: an office's existing spreadsheets (xlsx, csv) into the suite, through
the services' APIs, with the business dates of the rows."""
