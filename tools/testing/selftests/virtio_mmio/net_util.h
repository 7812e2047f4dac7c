/* SPDX-License-Identifier: GPL-2.0 */
/*
 * virtio-net helpers of the virtio_mmio selftests: raw frames of a local
 * experimental ethertype between the two NICs the confs put on one QEMU
 * hub (mmio_devices, mmio_lifecycle).
 */
#ifndef VRS_NET_UTIL_H
#define VRS_NET_UTIL_H

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "mmio_util.h"

#define ETH_P_VRS 0x88b5 /* IEEE 802 local experimental */

struct nic {
	char ifname[IFNAMSIZ];
	int ifindex;
	unsigned char mac[6];
	int sock;
};

static inline int nic_open(const struct vdev *v, struct nic *nic)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_VRS) };
	struct ifreq ifr = {};
	int s, ret = -1;

	if (child_of(v, "net", nic->ifname, sizeof(nic->ifname)))
		return -1;
	s = socket(AF_INET, SOCK_DGRAM, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", nic->ifname);
	if (ioctl(s, SIOCGIFFLAGS, &ifr))
		goto out;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) || ioctl(s, SIOCGIFHWADDR, &ifr))
		goto out;
	memcpy(nic->mac, ifr.ifr_hwaddr.sa_data, 6);
	if (ioctl(s, SIOCGIFINDEX, &ifr))
		goto out;
	nic->ifindex = ifr.ifr_ifindex;
	nic->sock = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_VRS));
	sll.sll_ifindex = nic->ifindex;
	if (nic->sock < 0 || bind(nic->sock, (struct sockaddr *)&sll, sizeof(sll)))
		goto out;
	ret = 0;
out:
	close(s);
	return ret;
}

static inline void frame_fill(unsigned char *f, size_t len, const struct nic *from,
		       const struct nic *to, uint32_t seq)
{
	size_t i;

	memcpy(f, to->mac, 6);
	memcpy(f + 6, from->mac, 6);
	f[12] = ETH_P_VRS >> 8;
	f[13] = ETH_P_VRS & 0xff;
	memcpy(f + 14, &seq, 4);
	for (i = 18; i < len; i++)
		f[i] = (unsigned char)(seq * 31 + i);
}

/*
 * Send @count frames from @a to @b in bursts of 16, each burst read back
 * on @b before the next; sizes 60..1514. Returns frames verified.
 */
static inline int frames_between(struct nic *a, struct nic *b, int count, char *err, size_t errlen)
{
	unsigned char out[1514], in[2048];
	int seq, got = 0;

	err[0] = 0;
	for (seq = 0; seq < count; seq += 16) {
		int k, burst = count - seq < 16 ? count - seq : 16;

		for (k = 0; k < burst; k++) {
			size_t len = 60 + ((seq + k) * 97) % (1514 - 60 + 1);

			frame_fill(out, len, a, b, seq + k);
			if (send(a->sock, out, len, 0) != (ssize_t)len) {
				snprintf(err, errlen, "send on %s: %s", a->ifname, strerror(errno));
				return got;
			}
		}
		for (k = 0; k < burst; k++) {
			struct pollfd pfd = { .fd = b->sock, .events = POLLIN };
			size_t len = 60 + ((seq + k) * 97) % (1514 - 60 + 1);
			ssize_t r;

			if (poll(&pfd, 1, 5000) != 1) {
				snprintf(err, errlen, "frame %d not received on %s", seq + k,
					 b->ifname);
				return got;
			}
			r = recv(b->sock, in, sizeof(in), 0);
			frame_fill(out, len, a, b, seq + k);
			if (r != (ssize_t)len || memcmp(in, out, len)) {
				snprintf(err, errlen, "frame %d on %s: %zd bytes, want %zu%s",
					 seq + k, b->ifname, r, len,
					 r == (ssize_t)len ? ", content differs" : "");
				return got;
			}
			got++;
		}
	}
	return got;
}

/* The MAC address of the netdev of @v, "aa:bb:..." (0), or -1. */
static inline int vdev_mac(const struct vdev *v, char *mac, size_t n)
{
	char ifname[IFNAMSIZ], p[PATH_MAX];

	if (child_of(v, "net", ifname, sizeof(ifname)))
		return -1;
	snprintf(p, sizeof(p), "/sys/class/net/%s/address", ifname);
	return read_line(p, mac, n);
}

/*
 * The virtio-net devices on the QEMU hub: all of them but the multiqueue
 * NIC on a tap that a conf may add (vrs.netmq=<mac>,...), in find_vdevs()
 * order.
 */
static inline int hub_net_vdevs(struct vdev *out, int max)
{
	struct vdev v[MAX_DEVS];
	char tap[64] = "", mac[64];
	int n = find_vdevs(VIRTIO_ID_NET, v, MAX_DEVS), k = 0;

	if (!cmdline_arg("vrs.netmq", tap, sizeof(tap)))
		tap[strcspn(tap, ",")] = 0;
	for (int i = 0; i < n && k < max; i++) {
		if (tap[0] && !vdev_mac(&v[i], mac, sizeof(mac)) && !strcasecmp(mac, tap))
			continue;
		out[k++] = v[i];
	}
	return k;
}

static inline int find_nics(struct nic nics[2])
{
	struct vdev v[MAX_DEVS];
	int n = hub_net_vdevs(v, MAX_DEVS);

	if (n < 2)
		return n;
	if (nic_open(&v[0], &nics[0]) || nic_open(&v[1], &nics[1]))
		return -1;
	return 2;
}

#endif
