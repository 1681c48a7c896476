// The system's libxcrypt (crypt_rn), as one Clang module for Swift: it verifies the bcrypt
// entries of htpasswd files (see module.modulemap).
#ifndef WHARF_CCRYPT_H
#define WHARF_CCRYPT_H
#include <crypt.h>
#endif
