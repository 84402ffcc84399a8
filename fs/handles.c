/* handles.c - the list of handles given to the kernel (see handles.h). */
#include "handles.h"

#include <stddef.h>
#include <pthread.h>

static pthread_mutex_t handles_mu = PTHREAD_MUTEX_INITIALIZER;
static struct dfs_handle *handles;   /* handles_mu */

void dfs_handle_add(struct dfs_handle *h, enum dfs_handle_kind kind,
		    void (*free_fn)(struct dfs_handle *h))
{
	h->kind = kind;
	h->free = free_fn;
	pthread_mutex_lock(&handles_mu);
	h->prev = NULL;
	h->next = handles;
	if (handles)
		handles->prev = h;
	handles = h;
	pthread_mutex_unlock(&handles_mu);
}

void dfs_handle_del(struct dfs_handle *h)
{
	pthread_mutex_lock(&handles_mu);
	if (h->prev)
		h->prev->next = h->next;
	else
		handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&handles_mu);
}

void dfs_handles_free_all(void)
{
	while (handles)
		handles->free(handles);   /* unlinks it */
}
