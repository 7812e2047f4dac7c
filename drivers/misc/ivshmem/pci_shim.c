// SPDX-License-Identifier: GPL-2.0
/*
 * PCI pieces the 7.3 kernel crate lacks (pciext.rs wraps them): claiming
 * a BAR without mapping it into the kernel, with a write-combining memory
 * type (on x86 with PAT, a PFN mapping of a range without a memtype
 * reservation is uncached; arch_io_reserve_memtype_wc() is a no-op
 * elsewhere), and disabling the device on unbind.
 */
#include <linux/io.h>
#include <linux/pci.h>

/* Called from Rust (pciext.rs declares them there). */
int vrs_pci_claim_wc(struct pci_dev *pdev, int bar, const char *name);
void vrs_pci_release_wc(struct pci_dev *pdev, int bar);

int vrs_pci_claim_wc(struct pci_dev *pdev, int bar, const char *name)
{
	int ret = pci_request_region(pdev, bar, name);

	if (ret)
		return ret;
	ret = arch_io_reserve_memtype_wc(pci_resource_start(pdev, bar),
					 pci_resource_len(pdev, bar));
	if (ret)
		pci_release_region(pdev, bar);
	return ret;
}

void vrs_pci_release_wc(struct pci_dev *pdev, int bar)
{
	arch_io_free_memtype_wc(pci_resource_start(pdev, bar), pci_resource_len(pdev, bar));
	pci_release_region(pdev, bar);
}
