#include "CCurlShim.h"

CURLcode CCurlShim_easy_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

CURLcode CCurlShim_easy_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

CURLcode CCurlShim_easy_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

CURLcode CCurlShim_easy_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

CURLcode CCurlShim_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}

CURLcode CCurlShim_easy_setopt_write_function(CURL *handle, CURLoption option, curl_write_callback function) {
    return curl_easy_setopt(handle, option, function);
}

CURLcode CCurlShim_easy_setopt_opensocket_function(CURL *handle, curl_opensocket_callback function) {
    return curl_easy_setopt(handle, CURLOPT_OPENSOCKETFUNCTION, function);
}

CURLcode CCurlShim_easy_setopt_blob(CURL *handle, CURLoption option, const void *data, size_t length) {
    struct curl_blob blob;
    blob.data = (void *)data;
    blob.len = length;
    blob.flags = CURL_BLOB_COPY;
    return curl_easy_setopt(handle, option, &blob);
}

CURLcode CCurlShim_easy_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

CURLcode CCurlShim_easy_getinfo_off_t(CURL *handle, CURLINFO info, curl_off_t *value) {
    return curl_easy_getinfo(handle, info, value);
}

CURLcode CCurlShim_easy_getinfo_string(CURL *handle, CURLINFO info, const char **value) {
    return curl_easy_getinfo(handle, info, value);
}

CURLcode CCurlShim_easy_getinfo_double(CURL *handle, CURLINFO info, double *value) {
    return curl_easy_getinfo(handle, info, value);
}

CURLMcode CCurlShim_multi_setopt_long(CURLM *multi, CURLMoption option, long value) {
    return curl_multi_setopt(multi, option, value);
}

int CCurlShim_msg_is_done(const CURLMsg *message) {
    return message->msg == CURLMSG_DONE ? 1 : 0;
}

CURL *CCurlShim_msg_easy_handle(const CURLMsg *message) {
    return message->easy_handle;
}

CURLcode CCurlShim_msg_result(const CURLMsg *message) {
    return message->data.result;
}

const size_t CCurlShim_WRITEFUNC_PAUSE = CURL_WRITEFUNC_PAUSE;
const int CCurlShim_PAUSE_CONT = CURLPAUSE_CONT;
const int CCurlShim_PAUSE_ALL = CURLPAUSE_ALL;
const unsigned int CCurlShim_VERSION_NOW = CURLVERSION_NOW;
const long CCurlShim_GLOBAL_ALL = CURL_GLOBAL_ALL;
const curl_socket_t CCurlShim_SOCKET_BAD = CURL_SOCKET_BAD;
