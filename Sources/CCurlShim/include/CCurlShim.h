// Non-variadic wrappers over libcurl for Swift, which cannot call C variadic functions,
// and the few macros Swift does not import. Every name carries the CCurlShim_ prefix;
// nothing else lives in C.
#ifndef WHARF_CCURLSHIM_H
#define WHARF_CCURLSHIM_H

#include <curl/curl.h>
#include <stddef.h>

// curl_easy_setopt, one wrapper per argument kind. Each returns the CURLcode unchanged.
CURLcode CCurlShim_easy_setopt_long(CURL *_Nonnull handle, CURLoption option, long value);
CURLcode CCurlShim_easy_setopt_off_t(CURL *_Nonnull handle, CURLoption option, curl_off_t value);
CURLcode CCurlShim_easy_setopt_string(CURL *_Nonnull handle, CURLoption option, const char *_Nullable value);
CURLcode CCurlShim_easy_setopt_pointer(CURL *_Nonnull handle, CURLoption option, void *_Nullable value);
CURLcode CCurlShim_easy_setopt_slist(CURL *_Nonnull handle, CURLoption option, struct curl_slist *_Nullable value);
/// For CURLOPT_WRITEFUNCTION and CURLOPT_HEADERFUNCTION (same C signature).
CURLcode CCurlShim_easy_setopt_write_function(CURL *_Nonnull handle, CURLoption option,
                                              curl_write_callback _Nullable function);
/// For CURLOPT_OPENSOCKETFUNCTION.
CURLcode CCurlShim_easy_setopt_opensocket_function(CURL *_Nonnull handle, curl_opensocket_callback _Nullable function);
/// For CURLOPT_*_BLOB options; libcurl copies the bytes (CURL_BLOB_COPY).
CURLcode CCurlShim_easy_setopt_blob(CURL *_Nonnull handle, CURLoption option,
                                    const void *_Nullable data, size_t length);

// curl_easy_getinfo, one wrapper per result kind.
CURLcode CCurlShim_easy_getinfo_long(CURL *_Nonnull handle, CURLINFO info, long *_Nonnull value);
CURLcode CCurlShim_easy_getinfo_off_t(CURL *_Nonnull handle, CURLINFO info, curl_off_t *_Nonnull value);
CURLcode CCurlShim_easy_getinfo_string(CURL *_Nonnull handle, CURLINFO info, const char *_Nullable *_Nonnull value);
CURLcode CCurlShim_easy_getinfo_double(CURL *_Nonnull handle, CURLINFO info, double *_Nonnull value);

// curl_multi_setopt takes a long for the options Wharf sets.
CURLMcode CCurlShim_multi_setopt_long(CURLM *_Nonnull multi, CURLMoption option, long value);

// The result of a finished transfer sits in a union inside CURLMsg.
/// 1 when `message` says a transfer is done, else 0.
int CCurlShim_msg_is_done(const CURLMsg *_Nonnull message);
/// The easy handle `message` is about.
CURL *_Nullable CCurlShim_msg_easy_handle(const CURLMsg *_Nonnull message);
/// The transfer's result (meaningful only when done).
CURLcode CCurlShim_msg_result(const CURLMsg *_Nonnull message);

// Macros Swift does not import (or imports with the wrong type).
extern const size_t CCurlShim_WRITEFUNC_PAUSE;
extern const int CCurlShim_PAUSE_CONT;
extern const int CCurlShim_PAUSE_ALL;
extern const unsigned int CCurlShim_VERSION_NOW;
extern const long CCurlShim_GLOBAL_ALL;
extern const curl_socket_t CCurlShim_SOCKET_BAD;

#endif
