// The system libcurl headers, as one Clang module for Swift (see module.modulemap).
#ifndef WHARF_CCURL_H
#define WHARF_CCURL_H
#include <curl/curl.h>
#endif
