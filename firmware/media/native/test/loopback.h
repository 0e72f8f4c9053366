/* UDP sockets on 127.0.0.1 for the tests that talk to the engine as a phone would. */
#ifndef CONFBOX_TEST_LOOPBACK_H
#define CONFBOX_TEST_LOOPBACK_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A non-blocking UDP socket on a free loopback port (written to *port). */
static int udp_socket(uint16_t *port) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    *port = ntohs(a.sin_port);
    return fd;
}

static void send_to(int fd, uint16_t port, const uint8_t *buf, size_t n) {
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons(port)};
    sendto(fd, buf, n, 0, (struct sockaddr *)&a, sizeof a);
}

#endif
