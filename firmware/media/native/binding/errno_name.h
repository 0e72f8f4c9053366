/* The errno names Node gives its system errors (err.code), for errors the addon throws. */
#ifndef CONFBOX_ERRNO_NAME_H
#define CONFBOX_ERRNO_NAME_H

/* "ENOENT" for ENOENT, ...; "EIO" for an errno the addon does not expect. */
const char *confbox_errno_name(int err);

#endif
